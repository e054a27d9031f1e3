"""The park calendar: statutory holidays, 调休 working weekends, opening days."""

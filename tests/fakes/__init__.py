"""Stand-ins for outside services that tests drive over real protocols."""

"""The visitor's booking site: the park's front page, buying in three steps, finding,
refunding and adding an order to a calendar."""

"""Pure domain rules shared by device and server: no database, network or UI."""

"""The service layer the CLI and the HTTP API both call: every read and every change people
ask for, one function each, so a command and its route always agree."""

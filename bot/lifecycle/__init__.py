"""Start-up and shut-down: the app that wires everything (`app`), the services handed to every handler
(`services`), the features found through entry points (`features`), the `hrbot` command line (`cli`), start-up
errors in one line (`startup_errors`), readiness for /readyz (`readiness`) and the core's housekeeping jobs
(`maintenance`)."""

"""Feature packages, one per feature: `handlers/<feature>/` exports a `Feature` named `feature`, declared in
pyproject.toml's `hrbot.features` entry points. The core finds them there and names none."""

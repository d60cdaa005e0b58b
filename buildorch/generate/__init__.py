"""Files buildorch writes into a project from its plan: the GitHub Actions workflow and the
shortcut scripts. Each is built as data and dumped, then written by `files.write_all`."""

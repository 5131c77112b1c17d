"""The engine: stages, the runner that executes a command's sequence of them, fingerprints, the site lock, the
run store and the workdir. Nothing here knows a particular stage, command or target."""

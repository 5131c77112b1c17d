"""The stages commands are made of, one module each. A stage never imports a command."""

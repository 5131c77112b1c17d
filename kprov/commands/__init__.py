"""kprov's commands, one module each. A command is a declared sequence of stages plus its options, its lock
and its confirmation rule (:class:`kprov.commands.base.Command`); :mod:`kprov.api` runs them."""

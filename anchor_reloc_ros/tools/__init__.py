"""The ``anchor-reloc`` subcommands (``cli``): thin argparse front ends.

At import, the parsers need only core (the shared option definitions), ``training.config``
and a few constants of data and evaluation; each handler imports the training, evaluation,
benchmark or ROS code it runs.
"""

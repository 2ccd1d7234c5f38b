"""Speed benchmarks behind ``anchor-reloc speed``: model latency per backbone and backend,
Localizer overhead against the bare network, training throughput, bag decoding, machine
description. Imports core, data and training; ``node_latency`` imports ``ros.live_session``
and rclpy only inside the functions that drive the node."""

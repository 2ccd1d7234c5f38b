"""Speed benchmarks behind ``anchor-reloc bench``: model latency per backbone and backend,
Localizer overhead against the bare network, training throughput, machine description."""

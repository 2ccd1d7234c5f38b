"""Training: config, targets, caches and the loop. Imports core + data, never rclpy."""

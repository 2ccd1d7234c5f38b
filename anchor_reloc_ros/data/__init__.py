"""Dataset readers and writers. Imports ``core`` only, never rclpy."""

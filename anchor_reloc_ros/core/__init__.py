"""The ROS-free heart of anchor_reloc_ros: pure numpy/torch, never imports rclpy."""

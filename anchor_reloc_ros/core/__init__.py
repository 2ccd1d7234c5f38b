"""The ROS-free heart of anchor_reloc_ros: numpy/torch (ONNX Runtime and OpenCV where a
module needs them), the options every tool shares (``options``); imports no other
subpackage, never rclpy."""

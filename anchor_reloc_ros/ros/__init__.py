"""The ROS 2 edge of anchor_reloc_ros: the subpackage built on rclpy (elsewhere only
``benchmarks.node_latency`` imports it, inside the functions that drive a node). Imports
core and data.

``node.AnchorRelocNode`` (console script ``anchor_reloc_node``) wires a
``core.localizer.Localizer`` to ROS:

* in: ``image_raw`` (``sensor_msgs/Image``) or ``image_raw/compressed``
  (``CompressedImage``), sensor-data QoS by default; ``/tf``, ``/tf_static``;
* out, every message stamped with the image's stamp: ``~/pose``
  (``PoseWithCovarianceStamped`` of ``base_frame`` in ``map_frame``), ``/tf``
  (``tf_mode``), ``~/anchor`` (``AnchorDebug``), ``~/markers`` (``MarkerArray``),
  ``initialpose`` (optional); ``/diagnostics`` once per ``diagnostics_period_s``;
* service ``~/relocalize`` (``std_srvs/Trigger``): localize the next frame (one-shot
  mode when ``continuous`` is false).

Parameters: ``parameters.PARAMETERS``, the inference and decoding entries generated from
``core`` (mirrored in ``config/anchor_reloc.yaml``). The
helpers ``frame_worker``, ``rates``, ``pose_math``, ``health`` (the diagnostics level over
a sliding window) and ``tf_republisher`` (``map -> odom`` kept alive between estimates)
are ROS-free and tested alone; ``shutdown`` turns SIGINT/SIGTERM into an orderly stop;
``tf_buffer`` uses ``tf2_ros`` when importable, else its own interpolating buffer.
"""

"""Launch anchor_reloc_node (needs a ROS 2 install with launch and launch_ros).

    ros2 launch anchor_reloc_ros anchor_reloc.launch.py \
        weights:=/path/best.safetensors image_topic:=/camera/image_raw namespace:=robot1

Drones: feed the pose to MAVROS's vision input (PoseWithCovarianceStamped) with
    pose_topic:=/mavros/vision_pose/pose_cov
"""
from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "anchor_reloc_ros"
_TRUE = ("true", "1", "yes", "on")


def _node(context: LaunchContext) -> list[Node]:
    """Build the node from the resolved arguments (plain string logic, no eval)."""
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    overrides: dict[str, object] = {"use_sim_time": arg("use_sim_time").lower() in _TRUE}
    if arg("weights"):  # otherwise the params file's value stands
        overrides["weights"] = arg("weights")
    remappings = [("image_raw", arg("image_topic")),
                  ("image_raw/compressed", arg("image_topic").rstrip("/") + "/compressed")]
    if arg("pose_topic"):
        remappings.append(("~/pose", arg("pose_topic")))
    return [Node(package=PACKAGE, executable="anchor_reloc_node", name="anchor_reloc_node",
                 namespace=arg("namespace"), output="screen", emulate_tty=True,
                 parameters=[arg("params_file"), overrides], remappings=remappings)]


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config",
                                           "anchor_reloc.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML file with anchor_reloc_node parameters"),
        DeclareLaunchArgument("weights", default_value="",
                              description="Checkpoint file; empty keeps the params file's value"),
        DeclareLaunchArgument("namespace", default_value="", description="Node namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use /clock (bag replay, simulation)"),
        DeclareLaunchArgument("image_topic", default_value="image_raw",
                              description="Camera topic the node's image_raw is remapped to"),
        DeclareLaunchArgument("pose_topic", default_value="",
                              description="Remap ~/pose, e.g. /mavros/vision_pose/pose_cov"),
        OpaqueFunction(function=_node),
    ])

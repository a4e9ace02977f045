"""Regional alerts over MQTT: a retained message per region topic, read by every app process."""

from alerts._board import MqttAlertBoard, alert_topic, alerts_filter

__all__ = ["MqttAlertBoard", "alert_topic", "alerts_filter"]

from django.urls import path

from emotion import views

app_name = "emotion"
urlpatterns = [
    path("", views.index, name="index"),
    path("on-device/config.json", views.ondevice_config, name="ondevice-config"),
    path("on-device/model.onnx", views.ondevice_model, name="ondevice-model"),
    path("on-device/detector.onnx", views.ondevice_detector, name="ondevice-detector"),
]

from django.urls import path

from emotion import views

app_name = "emotion"
urlpatterns = [path("", views.index, name="index")]

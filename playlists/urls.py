from django.urls import path

from playlists import views

app_name = "playlists"
urlpatterns = [
    path("feedback/", views.feedback, name="feedback"),
    path("mood/", views.mood_override, name="mood"),
]

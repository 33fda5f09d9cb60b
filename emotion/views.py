from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def index(request: HttpRequest) -> HttpResponse:
    """The listener's page: camera, live mood and player."""
    return render(request, "emotion/index.html")

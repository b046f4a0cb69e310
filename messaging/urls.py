from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.home, name="home"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]

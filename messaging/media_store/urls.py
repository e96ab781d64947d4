from django.urls import path

from . import views

urlpatterns = [
    path("w/<str:ws>/messages/<str:message_id>/media/<int:position>", views.media_file, name="message-media"),
]

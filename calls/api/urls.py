from django.urls import path

from calls.api import views

urlpatterns = [
    path("calls/ice-servers/", views.IceServersView.as_view(), name="api-call-ice-servers"),
    path("conversations/<int:conversation_id>/calls/", views.ConversationCallListView.as_view(),
         name="api-conversation-calls"),
]

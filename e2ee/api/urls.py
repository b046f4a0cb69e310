from django.urls import path

from e2ee.api import views

urlpatterns = [
    path("me/keys/", views.MyKeysView.as_view(), name="api-my-keys"),
    path("users/<int:user_id>/keys/", views.UserKeysView.as_view(), name="api-user-keys"),
    path("conversations/<int:conversation_id>/keys/", views.ConversationKeysView.as_view(),
         name="api-conversation-keys"),
    path("conversations/<int:conversation_id>/keys/request/", views.ConversationKeyRequestView.as_view(),
         name="api-conversation-key-request"),
    path("conversations/<int:conversation_id>/keys/<int:key_id>/", views.ConversationKeyShareView.as_view(),
         name="api-conversation-key-share"),
]

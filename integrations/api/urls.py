from django.urls import path

from integrations.api import views

urlpatterns = [
    path("hooks/<str:secret>", views.incoming_hook, name="api-incoming-hook"),
    path("bots/", views.BotListView.as_view(), name="api-bots"),
    path("bots/<int:bot_id>/tokens/", views.BotTokenView.as_view(), name="api-bot-tokens"),
    path("integrations/incoming/", views.IncomingListView.as_view(), name="api-incoming"),
    path("integrations/incoming/<int:hook_id>/", views.IncomingDetailView.as_view(),
         name="api-incoming-detail"),
    path("integrations/outgoing/", views.OutgoingListView.as_view(), name="api-outgoing"),
    path("integrations/outgoing/<int:hook_id>/", views.OutgoingDetailView.as_view(),
         name="api-outgoing-detail"),
    path("integrations/outgoing/<int:hook_id>/deliveries/", views.DeliveryLogView.as_view(),
         name="api-outgoing-deliveries"),
    path("commands/", views.CommandListView.as_view(), name="api-commands"),
    path("conversations/<int:conversation_id>/commands/", views.CommandRunView.as_view(),
         name="api-command-run"),
    path("previews/<int:preview_id>/image", views.PreviewImageView.as_view(),
         name="api-preview-image"),
]

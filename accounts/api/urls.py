from django.urls import path

from accounts.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="api-me"),
    path("me/avatar/", views.MyAvatarView.as_view(), name="api-my-avatar"),
    path("me/presence/", views.MyPresenceView.as_view(), name="api-my-presence"),
    path("presence/", views.PresenceListView.as_view(), name="api-presence"),
    path("me/tokens/", views.TokenListView.as_view(), name="api-tokens"),
    path("me/tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="api-token"),
    path("invitations/", views.InvitationListView.as_view(), name="api-invitations"),
    path("invitations/<int:invitation_id>/", views.InvitationDetailView.as_view(),
         name="api-invitation"),
    path("users/", views.UserListView.as_view(), name="api-users"),
    path("users/<int:user_id>/", views.UserDetailView.as_view(), name="api-user"),
]

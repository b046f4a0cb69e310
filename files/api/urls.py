from django.urls import path

from files.api import views

urlpatterns = [
    path("files/", views.FileUploadView.as_view(), name="api-files"),
    path("files/<int:file_id>/", views.FileDetailView.as_view(), name="api-file"),
    path("files/<int:file_id>/download", views.FileDownloadView.as_view(), name="api-file-download"),
    path("files/<int:file_id>/thumbnail", views.FileThumbnailView.as_view(),
         name="api-file-thumbnail"),
]

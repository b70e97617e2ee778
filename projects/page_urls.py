"""Pages: sign-in, password change and reset, invitations to organisations, projects, datasets (and
the upload endpoint the dataset page's script uses)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from projects import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Django's password views with our templates (templates/registration/); the reset e-mail goes
    # through Django's e-mail backend (EMAIL_* settings). The names are the ones Django's views redirect to.
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("", views.project_list, name="project-list"),
    path("invitations/", views.invitation_list, name="invitation-list"),
    # The project's tabs: Overview and Data here; Tasks (labeling), Import, Export and Settings in their apps.
    path("projects/<uuid:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<uuid:project_id>/data", views.project_data, name="project-data"),
    path(
        "projects/<uuid:project_id>/datasets/connect",
        views.project_dataset_connect,
        name="project-dataset-connect",
    ),
    path("projects/<uuid:project_id>/datasets/create", views.project_dataset_create, name="project-dataset-create"),
    path("datasets/<uuid:dataset_id>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<uuid:dataset_id>/upload", views.dataset_upload, name="dataset-upload"),
    path("datasets/<uuid:dataset_id>/media-keys", views.dataset_media_keys, name="dataset-media-keys"),
    path("media/<uuid:media_id>/file", views.media_file, name="media-file"),
]

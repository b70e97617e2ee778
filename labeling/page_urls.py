"""Pages of labeling: start labeling, the task list, the labeling page."""

from django.urls import path

from labeling import views

urlpatterns = [
    path("projects/<uuid:project_id>/label", views.project_label_start, name="project-label-start"),
    path("projects/<uuid:project_id>/review", views.project_review_start, name="project-review-start"),
    path("projects/<uuid:project_id>/tasks", views.project_task_list, name="project-task-list"),
    path("projects/<uuid:project_id>/team-figures", views.project_team_figures, name="project-team-figures"),
    path("tasks/<uuid:task_id>/", views.task_label, name="task-label"),
    path("tasks/<uuid:task_id>/release", views.task_release, name="task-release"),
]

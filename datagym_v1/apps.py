from django.apps import AppConfig


class DatagymV1Config(AppConfig):
    name = "datagym_v1"
    verbose_name = "DataGym v1 API"

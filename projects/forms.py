"""Forms of the project and dataset pages: the shape of the input only, the rules are in services."""

from __future__ import annotations

from typing import Any

from django import forms

from projects.models import Dataset, Project
from projects.selectors import dataset_list_connectable


class DatasetConnectForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), empty_label="Choose a dataset…")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = dataset_list_connectable(project=project)  # type: ignore[attr-defined]


class DatasetCreateForm(forms.Form):
    name = forms.CharField(max_length=128, strip=True)
    short_description = forms.CharField(max_length=128, required=False, strip=True)


class MediaUrlsForm(forms.Form):
    urls = forms.CharField(
        error_messages={"required": "Paste at least one URL."},
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "https://example.com/images/photo-1.jpg"}),
        help_text="One URL per line; JPEG and PNG (by extension). The images are fetched when they are shown.",
    )

    MAX_URLS = 10_000

    def clean_urls(self) -> list[str]:
        urls = [line.strip() for line in self.cleaned_data["urls"].splitlines() if line.strip()]
        if not urls:
            raise forms.ValidationError("Paste at least one URL.")
        if len(urls) > self.MAX_URLS:
            raise forms.ValidationError(f"Paste at most {self.MAX_URLS} URLs at once.")
        return urls

"""`manage.py create_api_token ORGANIZATION [--user USERNAME]`: print a new API token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from projects.models import Membership, Role
from projects.services import api_token_create, membership_set, organization_get_or_create


class Command(BaseCommand):
    help = (
        "Create an API token and print it alone on stdout. The organisation (and the user) "
        "are created when missing. Without --user the token acts as an admin of the "
        "organisation; with --user it acts as that user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="the organisation's name")
        parser.add_argument("--user", help="a personal token of this user (created when missing)")
        parser.add_argument(
            "--role",
            choices=Role.values,
            default=Role.ADMIN,
            help="the role of a user who is not yet a member (default: admin)",
        )
        parser.add_argument("--name", default="", help="a name to recognise the token by")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_get_or_create(name=options["organization"])
        user = None
        if options["user"]:
            user, created = get_user_model().objects.get_or_create(username=options["user"])
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            if not Membership.objects.filter(organization=organization, user=user).exists():
                membership_set(organization=organization, user=user, role=options["role"])
        _, raw = api_token_create(organization=organization, user=user, name=options["name"])
        self.stdout.write(raw)

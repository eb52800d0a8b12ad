"""The review roles as Django groups: Viewer (read), Reviewer (select, edit), Approver."""

from django.db import migrations

ROLE_GROUPS = ("Viewer", "Reviewer", "Approver")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=ROLE_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("requests_app", "0003_review_and_reports"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]

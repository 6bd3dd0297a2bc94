from django.db import migrations

# The built-in roles (names shown through RoleCode's translated labels).
ROLES = [
    ("handler", "经办人", False),
    ("purchaser", "采购员", False),
    ("salesperson", "销售员", False),
    ("cost_auditor", "造价审核员", False),
    ("legal_reviewer", "法务审核", False),
    ("finance", "财务", False),
    ("warehouse_keeper", "仓库管理员", False),
    ("department_head", "部门负责人", False),
    ("leader_in_charge", "分管领导", False),
    ("general_manager", "总经理", False),
    ("inspector", "纪委监督员", True),
    ("auditor", "内审员", True),
    ("it_admin", "IT 管理员", False),
]


def seed(apps, schema_editor):
    Role = apps.get_model("org", "Role")
    for code, name, is_oversight in ROLES:
        Role.objects.update_or_create(
            code=code, defaults={"name": name, "is_oversight": is_oversight}
        )


def unseed(apps, schema_editor):
    apps.get_model("org", "Role").objects.filter(code__in=[r[0] for r in ROLES]).delete()


class Migration(migrations.Migration):
    dependencies = [("org", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]

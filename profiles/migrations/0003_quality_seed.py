"""Seed the editable job-function mapping and the quality-score weights (frozen copies)."""

from django.db import migrations

JOB_FUNCTION_RULES = (
    ("cmo", "marketing"),
    ("cto", "it"),
    ("cio", "it"),
    ("ciso", "it"),
    ("cfo", "finance"),
    ("chro", "hr"),
    ("coo", "operations"),
    ("marketing", "marketing"),
    ("brand", "marketing"),
    ("communications", "marketing"),
    ("communication", "marketing"),
    ("seo", "marketing"),
    ("content", "marketing"),
    ("growth", "marketing"),
    ("campaign", "marketing"),
    ("social media", "marketing"),
    ("pr", "marketing"),
    ("sales", "sales"),
    ("account executive", "sales"),
    ("account manager", "sales"),
    ("business development", "sales"),
    ("commercial", "sales"),
    ("vertrieb", "sales"),
    ("ventes", "sales"),
    ("it", "it"),
    ("software", "it"),
    ("developer", "it"),
    ("engineer", "it"),
    ("engineering", "it"),
    ("devops", "it"),
    ("data", "it"),
    ("informatique", "it"),
    ("programmer", "it"),
    ("sysadmin", "it"),
    ("security", "it"),
    ("finance", "finance"),
    ("financier", "finance"),
    ("financial", "finance"),
    ("accountant", "finance"),
    ("accounting", "finance"),
    ("controller", "finance"),
    ("treasurer", "finance"),
    ("comptable", "finance"),
    ("buchhaltung", "finance"),
    ("hr", "hr"),
    ("human resources", "hr"),
    ("people", "hr"),
    ("recruiter", "hr"),
    ("recruiting", "hr"),
    ("talent", "hr"),
    ("ressources humaines", "hr"),
    ("personal", "hr"),
    ("operations", "operations"),
    ("logistics", "operations"),
    ("supply chain", "operations"),
    ("procurement", "operations"),
    ("purchasing", "operations"),
    ("production", "operations"),
    ("facility", "operations"),
    ("ceo", "management"),
    ("founder", "management"),
    ("co founder", "management"),
    ("owner", "management"),
    ("president", "management"),
    ("managing director", "management"),
    ("general manager", "management"),
    ("director", "management"),
    ("head", "management"),
    ("vp", "management"),
    ("chief", "management"),
    ("geschaftsfuhrer", "management"),
    ("directeur", "management"),
    ("gerant", "management"),
    ("partner", "management"),
)
WEIGHTS = {
    "email": 20,
    "phone": 10,
    "first_name": 10,
    "last_name": 10,
    "company": 10,
    "job_title": 5,
    "country": 5,
    "city": 5,
    "postcode": 5,
    "validity": 20,
}


def seed(apps, schema_editor):
    JobFunctionRule = apps.get_model("profiles", "JobFunctionRule")
    QualityWeight = apps.get_model("profiles", "QualityWeight")
    JobFunctionRule.objects.bulk_create(
        [
            JobFunctionRule(keyword=keyword, function=function, position=(n + 1) * 10)
            for n, (keyword, function) in enumerate(JOB_FUNCTION_RULES)
        ],
        ignore_conflicts=True,
    )
    QualityWeight.objects.bulk_create(
        [QualityWeight(field=name, weight=weight) for name, weight in WEIGHTS.items()],
        ignore_conflicts=True,
    )


def unseed(apps, schema_editor):
    apps.get_model("profiles", "JobFunctionRule").objects.all().delete()
    apps.get_model("profiles", "QualityWeight").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("profiles", "0002_identity_rules_seed")]

    operations = [migrations.RunPython(seed, unseed)]

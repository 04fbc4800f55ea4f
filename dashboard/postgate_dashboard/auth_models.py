"""The dashboard's accounts tables, owned by this plugin (app label ``dashboard_auth``)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class DashboardUser(Model):
    """One person who may sign in to the dashboard, with an argon2 password hash and a role."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True, description="lower case")
    password_hash = fields.CharField(max_length=255, description="argon2id")
    role = fields.CharField(max_length=16, description="admin or viewer")
    session_key = fields.CharField(max_length=64, description="changes on logout: old cookies stop working")
    failed_logins = fields.IntField(default=0, description="wrong passwords in a row")
    locked_until = fields.FloatField(default=0.0, description="epoch seconds")
    created_at = fields.FloatField(description="epoch seconds")
    last_login_at = fields.FloatField(null=True, description="epoch seconds")
    totp_secret = fields.CharField(max_length=255, null=True,
                                   description="Fernet token of the TOTP secret (key from the secrets file)")
    totp_enabled_at = fields.FloatField(null=True, description="epoch seconds; null: two-factor is off")
    totp_last_step = fields.BigIntField(default=0, description="last accepted 30 s step: no replay")
    failed_codes = fields.IntField(default=0, description="wrong second-step codes in a row")

    class Meta:
        table = "dashboard_user"


class DashboardRecoveryCode(Model):
    """A one-time recovery code of an account, argon2-hashed."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("dashboard_auth.DashboardUser", related_name="recovery_codes",
                                  on_delete=fields.CASCADE)
    code_hash = fields.CharField(max_length=255, description="argon2id")
    used_at = fields.FloatField(null=True, description="epoch seconds; null: still usable")

    class Meta:
        table = "dashboard_recovery_code"

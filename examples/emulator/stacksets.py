"""Stand-in for what moto 5.2.5's CloudFormation StackSets lack for corral's member detection.

What moto executes itself: CreateStackSet (``PermissionModel`` SERVICE_MANAGED kept and
returned), CreateStackInstances with ``DeploymentTargets.OrganizationalUnitIds`` (a stack,
hidden as on AWS, is created in each member account and region, its resources in that
account's backends), DescribeStackSet, ListStackInstances, DeleteStackInstances, and, inside
the template, Conditions, ``Fn::Sub``/``Fn::If``/``Ref``, ``AWS::SNS::Topic`` (its
``Subscription`` list included), ``AWS::IAM::Role`` (with ``Policies``) and
``AWS::Events::Rule`` (with ``Targets``).

What :func:`install` stands in, and nothing else:

1. **AutoDeployment.** moto drops the parameter (its docstring: "not yet implemented").
   CreateStackSet and UpdateStackSet store it on moto's StackSet; DescribeStackSet returns it.
2. **Automatic deployment.** On organizations CreateAccount and MoveAccount, every
   SERVICE_MANAGED StackSet with AutoDeployment on is reconciled: an account now below one of
   its targets gets an instance in each region of that target; an account no longer below any
   loses its instances unless ``RetainStacksOnAccountRemoval``.
3. **Which accounts a target means.** AWS deploys to every account below a targeted root or
   OU, child OUs at any depth, never to the management account, and honours
   ``AccountFilterType`` (DIFFERENCE, INTERSECTION) with ``Accounts``. moto resolves one level
   of child OUs, includes the management account and ignores the filter.
4. **Resource types moto's CloudFormation does not create**: ``AWS::CloudWatch::Alarm``,
   ``AWS::SNS::TopicPolicy`` and ``AWS::Budgets::Budget`` are created through moto's own
   CloudWatch, SNS and Budgets backends, from properties moto's CloudFormation resolved.

Instance status is moto's (always CURRENT); an operation never fails or queues.
``tests/test_stackset_emulator.py`` asserts moto still lacks each of these, so the stand-in
is retired when moto gains them.
"""

from __future__ import annotations

import json
from typing import Any

from moto.budgets.models import budgets_backends
from moto.cloudformation import parsing
from moto.cloudformation.models import StackInstances, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudwatch.models import cloudwatch_backends
from moto.organizations.models import OrganizationsBackend
from moto.sns.models import sns_backends
from moto.utilities.utils import get_partition

SERVICE_MANAGED = "SERVICE_MANAGED"
_MOTO: dict[str, Any] = {}  # moto's own functions, while installed


class _Made:
    """A resource the stand-in created, as moto's stack resource map holds it."""

    def __init__(self, physical_id: str, remove: Any) -> None:
        self.physical_resource_id = physical_id
        self._remove = remove

    def delete(self, account_id: str, region_name: str) -> None:
        self._remove()

    def is_created(self) -> bool:
        return True


class _Alarm:
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(cls, name, cloudformation_json, account_id, region_name,
                                        **_: Any) -> _Made:  # fmt: skip
        p, backend = cloudformation_json["Properties"], cloudwatch_backends[account_id][region_name]
        backend.put_metric_alarm(
            name=p["AlarmName"],
            namespace=p["Namespace"],
            metric_name=p["MetricName"],
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p["Period"]),
            threshold=float(p["Threshold"]),
            statistic=p["Statistic"],
            description=p.get("AlarmDescription", ""),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            actions_enabled=_bool(p.get("ActionsEnabled", True)),
            treat_missing_data=p.get("TreatMissingData"),
            tags=p.get("Tags", []),
        )
        return _Made(p["AlarmName"], lambda: backend.delete_alarms([p["AlarmName"]]))


class _TopicPolicy:
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, name, cloudformation_json, account_id, region_name,
                                        **_: Any) -> _Made:  # fmt: skip
        p, backend = cloudformation_json["Properties"], sns_backends[account_id][region_name]
        document = p["PolicyDocument"]
        for topic in p["Topics"]:
            backend.set_topic_attribute(topic, "policy", json.dumps(document))
        return _Made(name, lambda: None)


class _Budget:
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Budgets::Budget"

    @classmethod
    def create_from_cloudformation_json(cls, name, cloudformation_json, account_id, region_name,
                                        **_: Any) -> _Made:  # fmt: skip
        p = cloudformation_json["Properties"]
        budget = dict(p["Budget"])
        limit = budget["BudgetLimit"]
        budget["BudgetLimit"] = {"Amount": f"{float(limit['Amount']):.2f}", "Unit": limit["Unit"]}
        backend = budgets_backends[account_id][get_partition(region_name)]
        backend.create_budget(account_id, budget, p.get("NotificationsWithSubscribers", []))
        return _Made(budget["BudgetName"],
                     lambda: backend.delete_budget(account_id, budget["BudgetName"]))  # fmt: skip


STAND_IN_TYPES = {m.cloudformation_type(): m for m in (_Alarm, _TopicPolicy, _Budget)}


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def moto_model_map() -> dict[str, Any]:
    """The CloudFormation resource types moto itself creates."""
    return (_MOTO.get("get_model_map") or parsing.get_model_map)()


def _model_map() -> dict[str, Any]:
    return {**_MOTO["get_model_map"](), **STAND_IN_TYPES}


# --------------------------------------------------------------------------- targets


def _below(org: OrganizationsBackend, units: list[str]) -> set[str]:
    """Accounts below any of ``units`` (a root or OU), at any depth, but the management one."""
    parents, found = set(units), set()
    while True:
        children = {ou.id for ou in org.ou if ou.parent_id in parents} - parents
        if not children:
            break
        parents |= children
    found = {a.id for a in org.accounts if a.parent_id in parents}
    return found - {org.org.master_account_id} if org.org else found


def _wanted(org: OrganizationsBackend, target: dict) -> set[str]:
    accounts = _below(org, target["units"])
    listed = set(target["accounts"])
    if target["filter"] == "DIFFERENCE":
        return accounts - listed
    if target["filter"] == "INTERSECTION":
        return accounts & listed
    return accounts


def _create_instances(self: StackInstances, accounts, regions, parameters, deployment_targets,
                      permission_model):  # fmt: skip
    """SERVICE_MANAGED: remember the target, then deploy to the accounts AWS would."""
    moto = _MOTO["create_instances"]
    if permission_model != SERVICE_MANAGED:
        return moto(self, accounts, regions, parameters, deployment_targets, permission_model)
    target = {
        "units": list(deployment_targets.get("OrganizationalUnitIds", [])),
        "filter": deployment_targets.get("AccountFilterType", "NONE"),
        "accounts": list(deployment_targets.get("Accounts", [])),
        "regions": list(regions),
        "parameters": parameters,
    }
    self.corral_targets = [*getattr(self, "corral_targets", []), target]
    wanted = sorted(_wanted(self.org_backend, target))
    return moto(self, wanted, regions, parameters, {}, permission_model)


def _reconcile(org: OrganizationsBackend) -> None:
    """Automatic deployment: every SERVICE_MANAGED StackSet with AutoDeployment on follows
    the accounts below its targets."""
    for backend in list(cloudformation_backends[org.account_id].values()):
        for stackset in list(backend.stacksets.values()):
            auto = getattr(stackset, "auto_deployment", None) or {}
            if stackset.permission_model != SERVICE_MANAGED or not auto.get("Enabled"):
                continue
            instances = stackset.instances
            desired = set()
            for target in getattr(instances, "corral_targets", []):
                wanted = sorted(_wanted(org, target))
                desired |= {(a, r) for a in wanted for r in target["regions"]}
                _MOTO["create_instances"](instances, wanted, target["regions"],
                                          target["parameters"], {}, SERVICE_MANAGED)  # fmt: skip
            if auto.get("RetainStacksOnAccountRemoval"):
                continue
            for instance in list(instances.stack_instances):
                if (instance.account_id, instance.region_name) not in desired:
                    instances.delete([instance.account_id], [instance.region_name])


def _create_account(self: OrganizationsBackend, **kwargs: Any) -> dict[str, Any]:
    result = _MOTO["create_account"](self, **kwargs)
    _reconcile(self)
    return result


def _move_account(self: OrganizationsBackend, **kwargs: Any) -> None:
    _MOTO["move_account"](self, **kwargs)
    _reconcile(self)


# --------------------------------------------------------------------------- AutoDeployment


def _auto_deployment(response: CloudFormationResponse) -> dict[str, bool] | None:
    raw = response._get_params().get("AutoDeployment")
    if not raw:
        return None
    return {
        "Enabled": _bool(raw.get("Enabled", False)),
        "RetainStacksOnAccountRemoval": _bool(raw.get("RetainStacksOnAccountRemoval", False)),
    }


def _create_stack_set(self: CloudFormationResponse):
    result = _MOTO["create_stack_set"](self)
    stackset = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
    stackset.auto_deployment = _auto_deployment(self)
    return result


def _update_stack_set(self: CloudFormationResponse):
    result = _MOTO["update_stack_set"](self)
    auto = _auto_deployment(self)
    if auto is not None:
        stackset = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
        stackset.auto_deployment = auto
    return result


# --------------------------------------------------------------------------- install


def install() -> None:
    """Stand in for the four gaps above (idempotent; in-process and in the emulator server)."""
    if _MOTO:
        return
    _MOTO.update(
        get_model_map=parsing.get_model_map,
        create_instances=StackInstances.create_instances,
        create_account=OrganizationsBackend.create_account,
        move_account=OrganizationsBackend.move_account,
        create_stack_set=CloudFormationResponse.create_stack_set,
        update_stack_set=CloudFormationResponse.update_stack_set,
    )
    parsing.get_model_map = _model_map
    StackInstances.create_instances = _create_instances
    OrganizationsBackend.create_account = _create_account
    OrganizationsBackend.move_account = _move_account
    CloudFormationResponse.create_stack_set = _create_stack_set
    CloudFormationResponse.update_stack_set = _update_stack_set


def uninstall() -> None:
    """Give moto its own functions back (the tests that prove moto still lacks each gap)."""
    if not _MOTO:
        return
    parsing.get_model_map = _MOTO["get_model_map"]
    StackInstances.create_instances = _MOTO["create_instances"]
    OrganizationsBackend.create_account = _MOTO["create_account"]
    OrganizationsBackend.move_account = _MOTO["move_account"]
    CloudFormationResponse.create_stack_set = _MOTO["create_stack_set"]
    CloudFormationResponse.update_stack_set = _MOTO["update_stack_set"]
    _MOTO.clear()

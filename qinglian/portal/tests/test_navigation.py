from qinglian.org.enums import RoleCode
from qinglian.org.scopes import DataScope
from qinglian.portal.navigation import navigation_for


def _scope(*roles: str) -> DataScope:
    return DataScope(
        user_id=1,
        read_company_ids=frozenset({10}),
        roles_by_company={10: frozenset(roles)},
        is_group_wide=False,
    )


def _targets(*roles: str) -> list[str]:
    return [item.url_name for item in navigation_for(_scope(*roles))]


def test_inspectors_and_auditors_get_the_supervision_dashboard():
    assert "supervision:dashboard" in _targets(RoleCode.INSPECTOR)
    assert "supervision:dashboard" in _targets(RoleCode.AUDITOR)
    assert "supervision:case_list" not in _targets(RoleCode.INSPECTOR)


def test_unit_leaders_get_their_cases_and_others_nothing_of_supervision():
    for role in (RoleCode.GENERAL_MANAGER, RoleCode.LEADER_IN_CHARGE, RoleCode.DEPARTMENT_HEAD):
        targets = _targets(role)
        assert "supervision:case_list" in targets
        assert "supervision:dashboard" not in targets
    assert not [t for t in _targets(RoleCode.HANDLER) if t.startswith("supervision:")]


def test_trading_roles_and_oversight_get_purchase_sales_inventory():
    for role in (RoleCode.PURCHASER, RoleCode.WAREHOUSE_KEEPER, RoleCode.FINANCE, RoleCode.AUDITOR):
        assert "trading:home" in _targets(role)
    assert "trading:home" not in _targets(RoleCode.HANDLER)


def test_legacy_intake_is_for_group_wide_it_administrators_and_inspectors():
    def targets(role: str, *, group_wide: bool) -> list[str]:
        scope = DataScope(
            user_id=1,
            read_company_ids=frozenset({10}),
            roles_by_company={10: frozenset({role})},
            is_group_wide=group_wide,
        )
        return [item.url_name for item in navigation_for(scope)]

    assert "legacy:import" in targets(RoleCode.IT_ADMIN, group_wide=True)
    assert "legacy:import" in targets(RoleCode.INSPECTOR, group_wide=True)
    assert "legacy:import" not in targets(RoleCode.IT_ADMIN, group_wide=False)
    assert "legacy:import" not in targets(RoleCode.AUDITOR, group_wide=True)
    assert "legacy:import" not in targets(RoleCode.PURCHASER, group_wide=True)

"""The workflows' own tests, rerun with the inventory on PostgreSQL: leases (``SELECT ... FOR
UPDATE`` under the advisory write lock), rotations under a lease, the fast list against the
ORM's. The tests are the SQLite ones, imported; only ``svc`` differs (``postgres_db``)."""

from __future__ import annotations

from tests.pg_fixtures import svc
from tests.test_fast_list import test_the_fast_list_is_the_orm_list
from tests.test_lease import (
    lease_clock,
    test_a_driver_that_was_taken_over_stops_without_writing,
    test_a_live_rotation_refuses_resume_abandon_and_a_second_rotation,
    test_a_stalled_rotation_is_finished_by_another_driver,
    test_an_operation_is_born_leased,
    test_expired_lease_is_taken_over_and_the_old_driver_is_fenced,
    test_held_renews_and_releases_even_on_an_exception,
    test_live_lease_refused_naming_holder_and_since,
    test_take_renew_release,
)

__all__ = [
    "lease_clock",
    "svc",
    "test_a_driver_that_was_taken_over_stops_without_writing",
    "test_a_live_rotation_refuses_resume_abandon_and_a_second_rotation",
    "test_a_stalled_rotation_is_finished_by_another_driver",
    "test_an_operation_is_born_leased",
    "test_expired_lease_is_taken_over_and_the_old_driver_is_fenced",
    "test_held_renews_and_releases_even_on_an_exception",
    "test_live_lease_refused_naming_holder_and_since",
    "test_take_renew_release",
    "test_the_fast_list_is_the_orm_list",
]

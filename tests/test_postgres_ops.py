"""The workflows' own tests, rerun with the inventory on PostgreSQL: leases (``SELECT ... FOR
UPDATE`` under the advisory write lock), rotations (also two at once, in threads), incidents,
the fast list, the plain review and the plain key detail against the ORM's. The tests are the SQLite ones, imported; only ``svc`` differs (``postgres_db``)."""

from __future__ import annotations

from tests.pg_fixtures import svc
from tests.test_fast_list import test_the_fast_list_is_the_orm_list
from tests.test_fast_read_paths import (
    test_the_plain_key_detail_is_the_orms,
    test_the_plain_review_is_the_orm_review,
    test_the_plain_review_of_a_stalled_lease_is_the_orms,
)
from tests.test_incident import (
    prod,
    test_api_failure_leaves_incident_resumable,
    test_contain_first_revokes_before_replacing,
    test_continuity_first,
)
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
from tests.test_read_transactions import (
    test_a_read_waits_for_no_writer_and_sees_only_what_was_committed,
    test_a_write_in_a_read_fails_and_the_next_writer_is_not_hindered,
)
from tests.test_rotate import (
    _fast_retries,
    test_failed_revoke_leaves_new_key_in_service_and_resume_finishes,
    test_failed_target_rolls_back_and_old_key_stays,
    test_failed_test_deploys_nothing_then_resume_retries,
    test_rotation_end_to_end,
    test_two_rotations_of_one_key_at_once,
)

__all__ = [
    "_fast_retries",
    "lease_clock",
    "prod",
    "svc",
    "test_a_driver_that_was_taken_over_stops_without_writing",
    "test_a_live_rotation_refuses_resume_abandon_and_a_second_rotation",
    "test_a_read_waits_for_no_writer_and_sees_only_what_was_committed",
    "test_a_stalled_rotation_is_finished_by_another_driver",
    "test_a_write_in_a_read_fails_and_the_next_writer_is_not_hindered",
    "test_an_operation_is_born_leased",
    "test_api_failure_leaves_incident_resumable",
    "test_contain_first_revokes_before_replacing",
    "test_continuity_first",
    "test_expired_lease_is_taken_over_and_the_old_driver_is_fenced",
    "test_failed_revoke_leaves_new_key_in_service_and_resume_finishes",
    "test_failed_target_rolls_back_and_old_key_stays",
    "test_failed_test_deploys_nothing_then_resume_retries",
    "test_held_renews_and_releases_even_on_an_exception",
    "test_live_lease_refused_naming_holder_and_since",
    "test_rotation_end_to_end",
    "test_take_renew_release",
    "test_the_fast_list_is_the_orm_list",
    "test_the_plain_key_detail_is_the_orms",
    "test_the_plain_review_is_the_orm_review",
    "test_the_plain_review_of_a_stalled_lease_is_the_orms",
    "test_two_rotations_of_one_key_at_once",
]

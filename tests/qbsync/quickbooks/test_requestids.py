from qbsync.quickbooks.requestids import BATCH_ID_MAX_LENGTH, REQUEST_ID_MAX_LENGTH, request_id_for


def test_the_same_operation_gets_the_same_id():
    assert request_id_for("customer-create", 7, 42, 1) == request_id_for("customer-create", 7, 42, 1)
    assert request_id_for("customer-create", 7, 42, 1) == "customer-create-7-42-1"


def test_different_operations_get_different_ids():
    assert request_id_for("customer-create", 7, 42, 1) != request_id_for("customer-create", 7, 42, 2)


def test_long_or_odd_parts_are_hashed_to_fit():
    long_id = request_id_for("invoice-update", "x" * 200, "O'Brien")
    assert len(long_id) <= REQUEST_ID_MAX_LENGTH
    assert long_id.startswith("invoice-upda")
    assert long_id == request_id_for("invoice-update", "x" * 200, "O'Brien")
    assert len(request_id_for("batch", "y" * 80, max_length=BATCH_ID_MAX_LENGTH)) <= BATCH_ID_MAX_LENGTH

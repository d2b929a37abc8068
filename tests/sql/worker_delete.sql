-- worker_delete
DELETE FROM workers WHERE id = %(id)s

-- leader_resign
DELETE FROM leader WHERE name = %(name)s AND worker_id = %(worker_id)s

-- metric_duration_histogram
SELECT count(*) FILTER (WHERE duration <= 0.01) AS b0,
       count(*) FILTER (WHERE duration <= 0.05) AS b1,
       count(*) FILTER (WHERE duration <= 0.1) AS b2,
       count(*) FILTER (WHERE duration <= 0.25) AS b3,
       count(*) FILTER (WHERE duration <= 0.5) AS b4,
       count(*) FILTER (WHERE duration <= 1.0) AS b5,
       count(*) FILTER (WHERE duration <= 2.5) AS b6,
       count(*) FILTER (WHERE duration <= 5.0) AS b7,
       count(*) FILTER (WHERE duration <= 10.0) AS b8,
       count(*) FILTER (WHERE duration <= 30.0) AS b9,
       count(*) FILTER (WHERE duration <= 60.0) AS b10,
       count(*) FILTER (WHERE duration <= 300.0) AS b11,
       count(*) FILTER (WHERE duration <= 900.0) AS b12,
       count(*) FILTER (WHERE duration <= 3600.0) AS b13,
       coalesce(sum(duration), 0) AS total, count(*) AS n
FROM metrics WHERE duration IS NOT NULL

"""The Airflow runner: Airflow 3 driven through its REST API (see README.md)."""

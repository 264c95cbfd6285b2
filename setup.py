# Kept beside pyproject.toml for tools that still expect it; flit builds the package.
from setuptools import find_packages, setup

setup(
	name="marketing_flows",
	version="0.1.0",
	description="Marketing automation flows for Frappe, ERPNext, Frappe CRM and Helpdesk",
	packages=find_packages(exclude=["tests", "benchmarks"]),
	zip_safe=False,
	include_package_data=True,
)

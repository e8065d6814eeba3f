{#-
  Use a model's custom schema verbatim (staging, intermediate, marts) instead of
  dbt's default "<target_schema>_<custom>", so the tables are where the Python side
  looks for them (mlops_assets/schema.py: marts.fct_flights). Without a custom
  schema, fall back to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{#- Fails with the rows whose non-NULL value lies outside [min_value, max_value]
    (or the open interval with inclusive=false). Either bound may be omitted. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

select {{ column_name }}

from {{ model }}
where {{ column_name }} is not null
  and not (
    1 = 1
    {%- if min_value is not none %}
    and {{ column_name }} {{ '>=' if inclusive else '>' }} {{ min_value }}
    {%- endif %}
    {%- if max_value is not none %}
    and {{ column_name }} {{ '<=' if inclusive else '<' }} {{ max_value }}
    {%- endif %}
  )

{% endtest %}
